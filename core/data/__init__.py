"""Data engine: dataset loaders, the degradation engine, pseudo-MOS labels, the proxy benchmark builder and
tinyFQnet's recognition labels."""
