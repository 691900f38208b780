"""Where the serving AMIs come from: AWS's public SSM parameters for the current Deep Learning
AMIs. Kept apart from the stack code so the local emulator can use the names without loading
the provider binding."""

from __future__ import annotations

from providers.aws.neuron import is_neuron

GPU_AMI_PARAMETER = (
    "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"
)
NEURON_AMI_PARAMETER = "/aws/service/neuron/dlami/multi-framework/ubuntu-22.04/latest/image_id"
SERVING_AMI_PARAMETERS = (GPU_AMI_PARAMETER, NEURON_AMI_PARAMETER)


def ami_parameter(accelerator: str) -> str:
    """The SSM public parameter of the current AMI with the right drivers for the accelerator."""
    return NEURON_AMI_PARAMETER if is_neuron(accelerator) else GPU_AMI_PARAMETER
