"""Wire-compatible API facades: one module per vendor contract, one Job model underneath."""
