#!/usr/bin/env bash
# Open pages of the built site (make docs) in headless Chromium (Debian package `chromium`) and
# save screenshots under docs/_build/screenshots/: the landing page, an API page with maths
# (align.mmd2), a rendered notebook, a notebook figure, and the search page with a query (offline search).
# The site reads MathJax from the CDN unless it was built with JTRANSFER_MATHJAX_PATH (see
# docs/conf.py); without network the maths then stays as raw TeX.
set -euo pipefail
cd "$(dirname "$0")/.."
html="$PWD/docs/_build/html"
out="$PWD/docs/_build/screenshots"
[ -f "$html/index.html" ] || { echo "build the site first: make docs" >&2; exit 1; }
mkdir -p "$out"
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome)
shot() {  # name url
  "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --hide-scrollbars --virtual-time-budget=15000 --window-size="${size:-1280,2000}" \
    --screenshot="$out/$1.png" "$2" > /dev/null 2>&1
  echo "$out/$1.png  <-  $2"
}
shot index "file://$html/index.html"
shot api_mmd2 "file://$html/api/_autosummary/jtransfer.align.mmd2.html"
shot notebook_domain_adaptation "file://$html/notebooks/domain_adaptation.html"
size=1280,16000 shot notebook_figure "file://$html/notebooks/learned_optimizers.html"  # whole page: the figure is at the end
shot search_mmd "file://$html/search.html?q=mmd2"
