"""Op breadth: comparisons, shape, reductions, math, activations, indexing and einsum.

Every op here is made with the public op mechanism (``tinygrad_init.op``), exactly the way a
user makes theirs; the modules attach their ops to ``Tensor`` as methods where PyTorch has
them (imported at the bottom of ``tinygrad_init/tensor.py``). The op table is docs/ops.md.
"""
