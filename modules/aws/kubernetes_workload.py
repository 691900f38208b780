"""What EKS adds to the Kubernetes serving workload (modules/kubernetes/): the pods' IAM role
through IRSA, and the weights copied from S3 with the AWS CLI."""

from __future__ import annotations

import re

from cdktn import Token

from modules.kubernetes.weights import DOWNLOAD_DIR, WeightsDownload
from modules.kubernetes.workload import WorkloadIdentity
from modules.kubernetes.workload_checks import WorkloadError

DOWNLOADER_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.31.0"
"""aws/aws-cli 2.31.0 (.changes/2.31.0.json); ECR Public tags the image by CLI version."""
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
"""IRSA: the role EKS's pod identity webhook gives the service account's pods."""
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}\Z")
_S3 = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?:/[^\s]*)?\Z")


def workload_identity(role_arn: str) -> WorkloadIdentity:
    """The service account's IRSA annotation. A Terraform reference (the role the stack creates
    beside the workload) is taken as it is: IAM gives it an ARN at apply."""
    if not Token.is_unresolved(role_arn) and not _ROLE_ARN.match(role_arn):
        raise WorkloadError(
            f"the workload's IAM role {role_arn!r} is not an IAM role ARN "
            "(arn:aws:iam::ACCOUNT:role/NAME)."
        )
    return WorkloadIdentity(service_account_annotations={ROLE_ANNOTATION: role_arn})


def weights_download(uri: str, *, image: str = DOWNLOADER_IMAGE) -> WeightsDownload:
    """`aws s3 sync` of the prefix, with the role's web identity credentials the webhook
    projects into the pod. `$(WEIGHTS_URI)` is Kubernetes' own expansion: no shell reads it."""
    if not _S3.match(uri):
        raise WorkloadError(f"the weights URI {uri!r} is not s3://BUCKET/PREFIX.")
    return WeightsDownload(
        uri=uri,
        image=image,
        command=(
            "aws",
            "s3",
            "sync",
            "--only-show-errors",
            "--no-progress",
            "$(WEIGHTS_URI)",
            DOWNLOAD_DIR,
        ),
        env={"WEIGHTS_URI": uri},
    )
