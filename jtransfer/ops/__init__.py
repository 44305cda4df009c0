"""jtransfer.ops: compute rewrites of JAX programs (same values, faster kernels).

:func:`matmul_ops` evaluates a function's convolutions and non-overlapping max-pools as
matmuls and reshapes, so that their derivatives of every order are matmuls too (fast
second-order MAML with CNNs on XLA:CPU).
"""

from jtransfer.ops._matmul_ops import matmul_ops

__all__ = ["matmul_ops"]
