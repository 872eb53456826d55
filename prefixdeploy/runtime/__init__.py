"""The prefixdeploy runtime: load a bundle and generate with a chosen prefix. Must not import torch."""
