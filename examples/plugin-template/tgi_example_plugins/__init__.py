"""Example tinygrad_init plugins: the ``signsgd`` optimizer and the ``pytorch_default`` initializer."""
