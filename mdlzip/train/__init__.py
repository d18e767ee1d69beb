"""Training: the float model learns the input; sparsifiers shape what it keeps."""
