from absl import app

from experiments.reproduce.runner import main

app.run(main)
