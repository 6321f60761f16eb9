"""Voelker, Rasmussen & Eliasmith 2020 (arXiv 2002.03553): the hybrid-spiking LMU with quantized activations on
psMNIST; with the 2019 LMU, the fully parallel LMU of Chilkuri & Eliasmith 2021, and LSTM/GRU baselines."""
