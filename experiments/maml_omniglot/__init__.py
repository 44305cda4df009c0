"""Few-shot classification with MAML, first-order MAML and Reptile: registered with ``reproduce``.

* ``maml_fewshot_digits`` (quick and full): 5-way 1-shot on sklearn digits (embedded data).
* ``maml_omniglot`` (full): the paper's Omniglot protocol, Conv4, 5-/20-way 1-/5-shot MAML
  plus first-order MAML and Reptile for 5-way 1-shot. On a CPU each run stops after
  ``JTRANSFER_OMNIGLOT_BUDGET_S`` seconds (default 900; 0 = no limit, the default on GPU) and
  the report states how many of the 60 000 iterations were done. Tasks are vmapped; on CPU
  convolutions and max-pools run as matmuls (``config.ops="auto"``, ``meta.matmul_ops``).
"""
