"""The serving image each engine runs on each kind: public images pinned by tag for fleets,
AWS-built ECR images for SageMaker, Google's Model Garden image (or the user's Artifact Registry
image) for Vertex AI."""

from __future__ import annotations

import re
from collections.abc import Callable

from core.errors import ProfileError
from planner.profile import Profile
from providers import targets
from providers.aws.neuron import is_neuron

DEFAULT_IMAGES: dict[str, str] = {
    "vllm": "vllm/vllm-openai:v0.10.2",
    "tgi": "ghcr.io/huggingface/text-generation-inference:3.3.4",
    "triton": "nvcr.io/nvidia/tritonserver:25.08-trtllm-python-py3",
}
"""Public images pinned by tag; `runtime.image` in the profile overrides them."""

DLC_REGISTRY = "763104351884.dkr.ecr.{region}.amazonaws.com"
"""AWS Deep Learning Containers: the registry account of the regions in DLC_REGIONS; opt-in
regions use other accounts, so there `runtime.image` must name the image."""
DLC_REGIONS = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "ca-central-1",
        "sa-east-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-central-1",
        "eu-north-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
    }
)
SAGEMAKER_IMAGES: dict[str, str] = {
    # LMI 16 (DJL Serving 0.34) runs vLLM 0.10.2, the version the fleet image pins.
    "vllm": "djl-inference:0.34.0-lmi16.0.0-cu128",
    "tgi": "huggingface-pytorch-tgi-inference:2.7.0-tgi3.3.4-gpu-py311-cu124-ubuntu22.04",
    "triton": "sagemaker-tritonserver:25.04-py3",
}
"""SageMaker pulls from ECR only: the AWS-built images of the same engines, pinned by tag."""
NEURON_IMAGES: dict[str, str] = {
    # AWS's Neuron vLLM container (NxD Inference backend), the tag its quickstart runs on inf2
    # (aws-neuron/aws-neuron-sdk containers/get-started/quickstart-configure-deploy-dlc.rst).
    "vllm": "public.ecr.aws/neuron/pytorch-inference-vllm-neuronx"
    ":0.9.1-neuronx-py310-sdk2.25.0-ubuntu22.04",
    # Hugging Face TGI's Neuron build
    # (huggingface.co/docs/text-generation-inference/backends/neuron).
    "tgi": "ghcr.io/huggingface/text-generation-inference:3.3.5-neuron",
}
"""Fleet images for Inferentia2; Triton has none (its TensorRT-LLM engines run on NVIDIA GPUs)."""
SAGEMAKER_NEURON_IMAGES: dict[str, str] = {
    # LMI (DJL Serving) for Neuron: sagemaker-python-sdk image_uri_config/djl-neuronx.json 0.29.0.
    "vllm": "djl-inference:0.29.0-neuronx-sdk2.19.1",
    # TGI for Neuron: image_uri_config/huggingface-llm-neuronx.json 0.0.24 (the "0.0" alias).
    "tgi": "huggingface-pytorch-tgi-inference:2.1.2-optimum0.0.24-neuronx-py310-ubuntu22.04",
}
"""SageMaker's AWS-built Neuron images, in the DLC account of DLC_NEURON_REGIONS."""
DLC_NEURON_REGIONS = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-2",
        "sa-east-1",
        "eu-west-1",
        "eu-west-3",
        "eu-central-1",
        "ap-northeast-1",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
    }
)
"""Regions where both Neuron images above are in the DLC account (763104351884) in the SDK's
image_uri_config; elsewhere `runtime.image` must name the image."""
ARTIFACT_REGISTRY_IMAGE = re.compile(r"^([a-z0-9-]+-docker\.pkg\.dev|([a-z]+\.)?gcr\.io)/")
"""Vertex AI pulls serving images from Artifact Registry only (gcr.io is served by it too)."""
MODEL_GARDEN_VLLM = (
    "us-docker.pkg.dev/vertex-ai/vertex-vision-model-garden-dockers/pytorch-vllm-serve"
)
"""Google's prebuilt vLLM serving image for Vertex AI (Model Garden), public in Artifact Registry.
Its contract, as Google's own deployment notebook uses it (GoogleCloudPlatform/vertex-ai-samples,
notebooks/community/model_garden/model_garden_huggingface_vllm_deployment.ipynb
@bf2c1226fdca7ca46a719950a70f65106aeb0986): the container args are the whole command
`python -m vllm.entrypoints.api_server --host=0.0.0.0 --port=8080 --model=<hub id> ...` (vLLM
engine flags), port 8080, predict route /generate, health route /ping, HF_TOKEN and MODEL_ID in
the environment."""
VERTEX_IMAGES: dict[str, str] = {"vllm": f"{MODEL_GARDEN_VLLM}:20251205_0916_RC01"}
"""Engines with a Google-published Vertex AI serving image, pinned to the tag of the notebook
above. TGI and Triton have no default: Google's Hugging Face TGI image in the same notebooks
(deeplearning-platform-release/gcr.io/huggingface-text-generation-inference-cu124.2-4...) is
TGI 2.4, not the 3.3.4 whose flags this toolkit writes, and Google publishes no Triton image for
Vertex; runtime.image must name one."""
MODEL_GARDEN_COMMAND = ("python", "-m", "vllm.entrypoints.api_server", "--host=0.0.0.0")
MODEL_GARDEN_PREDICT_ROUTE = "/generate"
MODEL_GARDEN_HEALTH_PATH = "/ping"


def _sagemaker_image(engine: str, region: str, neuron: bool) -> str:
    images, regions = (
        (SAGEMAKER_NEURON_IMAGES, DLC_NEURON_REGIONS) if neuron else (SAGEMAKER_IMAGES, DLC_REGIONS)
    )
    hardware = "Neuron " if neuron else ""
    if engine not in images or region not in regions:
        raise ProfileError(
            f"no AWS-built {hardware}{engine} image is known for SageMaker in {region}; set "
            "runtime.image to an ECR image URI."
        )
    return f"{DLC_REGISTRY.format(region=region)}/{images[engine]}"


def _fleet_image(engine: str, neuron: bool) -> str:
    if not neuron:
        return DEFAULT_IMAGES[engine]
    if engine not in NEURON_IMAGES:
        raise ProfileError(
            f"the {engine} engine has no Neuron image (Inferentia runs vllm or tgi); set "
            "runtime.engine, or runtime.image to a Neuron build of it."
        )
    return NEURON_IMAGES[engine]


def is_model_garden_vllm(image: str) -> bool:
    """Google's Model Garden vLLM image, at any tag or digest."""
    return image.startswith((f"{MODEL_GARDEN_VLLM}:", f"{MODEL_GARDEN_VLLM}@"))


def _vertex_image(image: str | None, engine: str) -> str:
    if image and ARTIFACT_REGISTRY_IMAGE.match(image):
        return image
    if not image and engine in VERTEX_IMAGES:
        return VERTEX_IMAGES[engine]
    if image:
        raise ProfileError(
            f"Vertex AI runs serving images from Artifact Registry only: copy {image} into a "
            "repository of yours (REGION-docker.pkg.dev/PROJECT/REPOSITORY/...) and set "
            "runtime.image to it."
        )
    raise ProfileError(
        f"no Google-published Vertex AI image is known to run the {engine} version this toolkit "
        f"configures: copy {DEFAULT_IMAGES[engine]} into an Artifact Registry repository of yours "
        "(REGION-docker.pkg.dev/PROJECT/REPOSITORY/...) and set runtime.image to it."
    )


def serving_image(profile: Profile, kind: str, region: str, accelerator: str = "") -> str:
    """The image a kind runs on an accelerator: the profile's, else the engine's default there
    (the Neuron build on Inferentia), by the kind's own rule (its `image_rule`)."""
    rule: ImageRule = targets.resolve(targets.kind(kind).image_rule)
    return rule(profile.runtime.image, profile.runtime.engine, region, is_neuron(accelerator))


ImageRule = Callable[[str | None, str, str, bool], str]
"""(the profile's image or None, engine, region, Neuron?) -> the image a kind runs."""


def fleet_image(image: str | None, engine: str, region: str, neuron: bool) -> str:
    """Instances the toolkit boots run any image: the profile's, else the engine's."""
    return image or _fleet_image(engine, neuron)


def sagemaker_image(image: str | None, engine: str, region: str, neuron: bool) -> str:
    """SageMaker pulls from ECR: the profile's image, else AWS's build for the region."""
    return image or _sagemaker_image(engine, region, neuron)


def vertex_image(image: str | None, engine: str, region: str, neuron: bool) -> str:
    """Vertex AI pulls from Artifact Registry only: the profile's, else Google's published one."""
    return _vertex_image(image, engine)


def image_health_path(image: str) -> str | None:
    """The health route an image answers on by itself, when it is not its engine's."""
    return MODEL_GARDEN_HEALTH_PATH if is_model_garden_vllm(image) else None
