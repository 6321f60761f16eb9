"""Rathi & Roy, TCDS 2024 (LITE-SNN): the membrane potential as the recurrent state of spiking networks for
sequences — IMDB sentiment (LIF network vs RNN/LSTM/GRU); Multi30k and DVS Gesture: see README.md."""
