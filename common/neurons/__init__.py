"""Spiking neurons: pure step functions (:mod:`.functional`), thin module wrappers (:mod:`.modules`),
explicit-state cells (:mod:`.cells`) and nested time (:mod:`.nested`)."""
from .backends import available_backends, register_backend, resolve_backend
from .cells import IFCell, LIFCell, LIFState, detach_state
from .functional import (
    MultiStepOutput,
    bernoulli_spike,
    integrate_multistep,
    lif_multistep_masked,
    lif_multistep_torch,
    lif_step,
)
from .modules import (
    IF,
    LIF,
    BernoulliNeuron,
    Integrator,
    SpikingNeuron,
    constrain_parameters,
    detach_states,
    reset_states,
)
from .nested import fold_steps, repeat_steps, run_nested, run_nested_cell
from .quantize import QuantizerState, QuantizingCell, QuantizingNeuron, quantize_multistep, quantize_step


def lif_multistep(x_seq, v0=None, leak=1.0, threshold=1.0, surrogate=None, reset="soft",
                  detach_reset=False, return_membrane=False, backend="auto") -> MultiStepOutput:
    """Multi-step IF/LIF through the chosen backend (see :mod:`.backends`)."""
    from ..surrogate import Triangle

    fn = resolve_backend(backend, x_seq.device)
    return fn(x_seq, v0, leak, threshold, surrogate or Triangle(), reset, detach_reset, return_membrane)


__all__ = [
    "IF", "LIF", "BernoulliNeuron", "Integrator", "SpikingNeuron", "MultiStepOutput",
    "lif_step", "lif_multistep", "lif_multistep_torch", "bernoulli_spike", "integrate_multistep",
    "reset_states", "constrain_parameters", "register_backend", "resolve_backend", "available_backends",
    "lif_multistep_masked", "detach_states", "LIFCell", "IFCell", "LIFState", "detach_state",
    "run_nested", "run_nested_cell", "repeat_steps", "fold_steps",
    "QuantizingNeuron", "QuantizingCell", "QuantizerState", "quantize_step", "quantize_multistep",
]
