"""Few-shot classification with MAML, first-order MAML and Reptile: registered with ``reproduce``.

* ``maml_fewshot_digits`` (quick and full): 5-way 1-shot on sklearn digits (embedded data).
* ``maml_omniglot`` (full): the paper's Omniglot protocol, Conv4. Off CPU: 5-/20-way 1-/5-shot
  MAML, first-order MAML and Reptile for 5-way 1-shot, 60 000 iterations. On a CPU: 5-way
  1-shot MAML and first-order MAML only, ``JTRANSFER_OMNIGLOT_ITERATIONS`` iterations each
  (default 100, the same for every seed). Both write ``results/<variant>_test_accuracy.json``
  (MAML paired against first-order MAML over seeds). Tasks are vmapped; on CPU convolutions
  and max-pools run as matmuls (``config.ops="auto"``, ``ops.matmul_ops``).
"""
