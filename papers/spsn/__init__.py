"""SPSN (Yarga & Wood, IJCNN 2023): stochastic parallelizable spiking neurons vs LIF on SHD."""
