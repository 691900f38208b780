"""What a SageMaker model's container is told: its image and its environment variables.

SageMaker has no secret references for container settings: every environment variable is
stored by SageMaker and in the Terraform state as plain text. So a model hub token is refused
(weights from S3 need none), and so is any variable whose name or value looks like a secret.
The fleet's command-line `runtime.extra_args` have no equivalent here; SageMaker containers take
`deploy.sagemaker.environment` instead.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from core.errors import InfraError
from modules.readiness import refuse_to_serve
from planner.secrets import find_secrets
from providers.aws.neuron import is_neuron, neuron_cores, neuron_problem

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

MODEL_DIR = "/opt/ml/model"
"""Where SageMaker puts the model data it downloads from S3 before the container starts."""
_ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[^\s]+$")
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|CREDENTIAL", re.I)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")
LMI_DTYPES = {"bf16": "bf16", "fp16": "fp16", "fp32": "fp32"}
TGI_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}
TGI_QUANTIZE = {"fp8": "fp8", "int8": "eetq"}


class SagemakerContainerError(InfraError):
    """The deployment spec cannot be turned into a SageMaker model container."""


def check_container(spec: DeploymentSpec) -> None:
    runtime = spec.runtime
    problem = None
    if not _ECR_IMAGE.match(runtime.image):
        problem = (
            f"SageMaker pulls images from Amazon ECR only, and {runtime.image!r} is not an ECR "
            "image URI; leave runtime.image unset for the AWS-built image or push yours to ECR"
        )
    elif runtime.extra_args:
        problem = (
            "runtime.extra_args are command-line flags for fleet containers; SageMaker "
            "containers take settings as environment variables under deploy.sagemaker.environment"
        )
    elif runtime.hf_token_ssm_parameter and not runtime.model_s3_uri:
        problem = (
            "SageMaker passes a model hub token to the container as a plain environment variable, "
            "which would be stored in the Terraform state; upload the weights to S3 and set "
            "deploy.model_s3_uri instead"
        )
    elif is_neuron(spec.accelerator) and (
        neuron := neuron_problem(
            runtime.engine, runtime.precision, runtime.max_model_len, runtime.kv_cache_dtype
        )
    ):
        problem = f"{spec.instance_type} has {spec.accelerator} chips, and {neuron}"
    elif runtime.engine == "tgi" and runtime.precision == "fp32":
        problem = "TGI does not serve fp32 models: use bf16 or fp16, or the vllm engine"
    elif runtime.replicas_per_instance > 1:
        problem = (
            f"the plan runs {runtime.replicas_per_instance} replicas of tensor parallel "
            f"{runtime.tensor_parallel} on each {spec.instance_type}, and one SageMaker model "
            "container serves one replica; pin --instance-type to a size the model fills, or "
            "deploy --kind fleet"
        )
    elif runtime.tensor_parallel > spec.accelerators_per_instance:
        problem = (
            f"tensor parallel {runtime.tensor_parallel} needs more GPUs than "
            f"{spec.instance_type} has ({spec.accelerators_per_instance})"
        )
    else:
        for name, value in spec.sagemaker.environment.items():
            problem = _environment_problem(name, value)
            if problem:
                break
    if problem:
        raise SagemakerContainerError(f"{spec.stack_name}: {problem}.")
    if runtime.engine == "triton" and not runtime.model_s3_uri:
        refuse_to_serve(
            SagemakerContainerError(
                f"{spec.stack_name}: Triton serves a prebuilt model repository and cannot "
                "download a model: upload the repository to S3 and set deploy.model_s3_uri to it."
            )
        )


def _environment_problem(name: str, value: str) -> str | None:
    if not _ENV_NAME.match(name):
        return f"deploy.sagemaker.environment: {name!r} is not a valid variable name"
    plain_text = "SageMaker environment variables are stored in plain text in the Terraform state"
    if _SECRET_NAME.search(name):
        return f"deploy.sagemaker.environment: {name} looks like a secret, and {plain_text}"
    finding = next(find_secrets(value, name=name), None)
    if finding:
        return (
            f"deploy.sagemaker.environment: {name} holds what looks like {finding.kind} "
            f"({finding.masked}), and {plain_text}"
        )
    return None


def container_environment(spec: DeploymentSpec) -> dict[str, str]:
    """The engine's settings as the AWS-built image reads them, then the profile's own."""
    runtime = spec.runtime
    model = MODEL_DIR if runtime.model_s3_uri else runtime.model_id
    if is_neuron(spec.accelerator):
        neuron = _lmi_neuronx if runtime.engine == "vllm" else _tgi_neuronx
        return {**neuron(spec, model), **spec.sagemaker.environment}
    if runtime.engine == "vllm":
        environment = _lmi_vllm(spec, model)
    elif runtime.engine == "tgi":
        environment = _tgi(spec, model)
    else:
        environment = {}
    return {**environment, **spec.sagemaker.environment}


def _lmi_vllm(spec: DeploymentSpec, model: str) -> dict[str, str]:
    """LMI's asynchronous vLLM handler, the mode LMI recommends since v16."""
    runtime = spec.runtime
    environment = {
        "HF_MODEL_ID": model,
        "SERVING_FAIL_FAST": "true",
        "OPTION_ASYNC_MODE": "true",
        "OPTION_ROLLING_BATCH": "disable",
        "OPTION_ENTRYPOINT": "djl_python.lmi_vllm.vllm_async_service",
        "OPTION_TENSOR_PARALLEL_DEGREE": str(runtime.tensor_parallel),
        "OPTION_MAX_ROLLING_BATCH_SIZE": str(runtime.max_batch),
        "OPTION_MODEL_LOADING_TIMEOUT": str(spec.sagemaker.startup_timeout_s),
    }
    if runtime.max_model_len:
        environment["OPTION_MAX_MODEL_LEN"] = str(runtime.max_model_len)
    if runtime.precision in LMI_DTYPES:
        environment["OPTION_DTYPE"] = LMI_DTYPES[runtime.precision]
    elif runtime.precision == "fp8":
        environment["OPTION_QUANTIZE"] = "fp8"
    if runtime.kv_cache_dtype == "fp8":
        environment["OPTION_KV_CACHE_DTYPE"] = "fp8"
    return environment


def _tgi(spec: DeploymentSpec, model: str) -> dict[str, str]:
    """The Hugging Face TGI image: its launcher reads each flag from an upper-case variable;
    SM_NUM_GPUS is the shard count on SageMaker. Same choices as the fleet's TGI flags."""
    runtime = spec.runtime
    environment = {
        "HF_MODEL_ID": model,
        "SM_NUM_GPUS": str(runtime.tensor_parallel),
        "MAX_CONCURRENT_REQUESTS": str(runtime.max_batch),
    }
    if runtime.max_model_len:
        environment["MAX_TOTAL_TOKENS"] = str(runtime.max_model_len)
        environment["MAX_INPUT_TOKENS"] = str(runtime.max_model_len - 1)
    if runtime.precision in TGI_DTYPES:
        environment["DTYPE"] = TGI_DTYPES[runtime.precision]
    elif runtime.precision in TGI_QUANTIZE:
        environment["QUANTIZE"] = TGI_QUANTIZE[runtime.precision]
    if runtime.kv_cache_dtype == "fp8":
        environment["KV_CACHE_DTYPE"] = "fp8_e4m3fn"
    return environment


def _lmi_neuronx(spec: DeploymentSpec, model: str) -> dict[str, str]:
    """LMI's Neuron image (djl-inference ...-neuronx-sdk...): its Transformers NeuronX handler
    with rolling batches, as djl-serving's tnx_user_guide.md configures it. The model compiles
    at startup for these NeuronCores, batch size and sequence length (option.n_positions) unless
    deploy.model_s3_uri holds a model compiled for them (Optimum Neuron format)."""
    runtime = spec.runtime
    return {
        "HF_MODEL_ID": model,
        "SERVING_FAIL_FAST": "true",
        "OPTION_ENTRYPOINT": "djl_python.transformers_neuronx",
        "OPTION_ROLLING_BATCH": "auto",
        "OPTION_TENSOR_PARALLEL_DEGREE": str(
            neuron_cores(spec.accelerator, runtime.tensor_parallel)
        ),
        "OPTION_MAX_ROLLING_BATCH_SIZE": str(runtime.max_batch),
        "OPTION_N_POSITIONS": str(_static_length(spec)),
        "OPTION_DTYPE": LMI_DTYPES[runtime.precision],
        "OPTION_MODEL_LOADING_TIMEOUT": str(spec.sagemaker.startup_timeout_s),
    }


def _tgi_neuronx(spec: DeploymentSpec, model: str) -> dict[str, str]:
    """Hugging Face's TGI image for Neuron: HF_NUM_CORES NeuronCores and HF_AUTO_CAST_TYPE set the
    export of a hub model (TGI's Neuron backend docs); the launcher's flags as variables fix the
    static batch size and sequence length."""
    runtime = spec.runtime
    length = _static_length(spec)
    return {
        "HF_MODEL_ID": model,
        "HF_NUM_CORES": str(neuron_cores(spec.accelerator, runtime.tensor_parallel)),
        "HF_AUTO_CAST_TYPE": runtime.precision,
        "MAX_BATCH_SIZE": str(runtime.max_batch),
        "MAX_TOTAL_TOKENS": str(length),
        "MAX_INPUT_TOKENS": str(length - 1),
    }


def _static_length(spec: DeploymentSpec) -> int:
    """The sequence length a Neuron model is compiled for (check_container requires one)."""
    if spec.runtime.max_model_len is None:
        raise SagemakerContainerError(
            f"{spec.stack_name}: Neuron compiles for a fixed sequence length: set "
            "runtime.max_model_len."
        )
    return spec.runtime.max_model_len
