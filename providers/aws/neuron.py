"""AWS Neuron accelerators (Inferentia2, Trainium): what serving on them differs in from NVIDIA
GPUs.

The planner counts chips (an inf2.xlarge has one); Neuron engines count NeuronCores, two per
Inferentia2 or Trainium chip ("16GB per neuron core, with 2 cores per device": Hugging Face TGI's
Neuron backend, docs/source/backends/neuron.md), so a tensor parallel degree over chips becomes one
over cores here. Neuron serves a model compiled ahead of time for fixed shapes: without compiled
artifacts in deploy.model_s3_uri, the first boot compiles it.
"""

from __future__ import annotations

NEURON_CORES_PER_CHIP: dict[str, int] = {"Inferentia2": 2, "Trainium": 2}
"""Neuron accelerators the deploy path drives, and their NeuronCores per chip (both chips carry two
NeuronCore-v2: the Neuron architecture pages inferentia2.html and trainium.html)."""
NEURON_ACCELERATORS = frozenset(NEURON_CORES_PER_CHIP)

COMPILE_TIME = "from a few minutes to more than an hour"
"""Hugging Face's published figure for compiling Llama 2 (7B, 13B) for Inferentia2 with
optimum-neuron ("Depending on your choice of parameters and inferentia host, this may take from a
few minutes to more than an hour", huggingface/blog inferentia-llama2.md, 2023-11-07); the Neuron
vLLM container quickstart adds "Server startup typically takes 5-10 minutes" for TinyLlama 1.1B
(aws-neuron/aws-neuron-sdk containers/get-started/quickstart-configure-deploy-dlc.rst). Neither
publishes a 70B figure."""
COMPILE_GRACE_S = 3600
"""Health-check grace for an instance that compiles the model at boot: the upper end of
COMPILE_TIME (and SageMaker's largest container startup timeout)."""


def is_neuron(accelerator: str) -> bool:
    return accelerator in NEURON_ACCELERATORS


def neuron_cores(accelerator: str, chips: int) -> int:
    """NeuronCores on `chips` chips: the tensor parallel degree Neuron engines take."""
    return NEURON_CORES_PER_CHIP[accelerator] * chips


def compile_note(model_s3_uri: str | None) -> str:
    """What a Neuron deployment's first boot does about compilation, in one sentence."""
    if model_s3_uri:
        return (
            f"Neuron: the compiled model is taken from {model_s3_uri} (it must have been compiled "
            "for this instance's NeuronCores, batch size and sequence length)."
        )
    return (
        "Neuron: no compiled model in deploy.model_s3_uri, so each new instance compiles it at "
        f"first boot, which takes {COMPILE_TIME} (Hugging Face's figure for Llama 2 7B/13B); "
        "upload compiled artifacts and set deploy.model_s3_uri to skip it."
    )


NEURON_ENGINES = frozenset({"vllm", "tgi"})
NEURON_PRECISIONS = frozenset({"bf16", "fp16"})


def neuron_problem(
    engine: str, precision: str, max_model_len: int | None, kv_cache_dtype: str
) -> str | None:
    """Why a runtime cannot be served on Neuron by the images here, or None.

    Triton serves TensorRT-LLM engines, built for NVIDIA GPUs only. The Neuron images compile for
    one dtype (bf16 or fp16: TGI's HF_AUTO_CAST_TYPE, LMI's option.dtype) and one static sequence
    length, so both must be known; quantized and FP8 KV cache serving are left to a model compiled
    by hand (deploy.model_s3_uri with runtime.image)."""
    if engine not in NEURON_ENGINES:
        return f"the {engine} engine does not run on Neuron (Neuron chips serve with vllm or tgi)"
    if precision not in NEURON_PRECISIONS:
        return f"Neuron serving here compiles bf16 or fp16 models, not {precision}"
    if max_model_len is None:
        return "Neuron compiles for a fixed sequence length: set runtime.max_model_len"
    if kv_cache_dtype == "fp8":
        return "the Neuron images here keep the KV cache at the model's dtype, not fp8"
    return None


def deployment_notes(accelerator: str, model_s3_uri: str | None) -> list[str]:
    """What plan and deploy tell about a deployment beyond its resources: on Neuron, compilation."""
    return [compile_note(model_s3_uri)] if is_neuron(accelerator) else []
