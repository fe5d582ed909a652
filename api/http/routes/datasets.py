"""``/datasets``: upload a zipped data folder (checked whole by the data contracts), read one back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status

from allocation.jobs.service import get_dataset, register_dataset
from api.http.deps import PlannerKey, RuntimeDep
from api.http.errors import ApiError, error_responses
from api.http.schemas.common import Id, Text
from api.http.schemas.datasets import DatasetPublic

__all__ = ["router"]

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetPublic,
    responses=error_responses(400, 401, 403, 413, 422, 503),
    summary="Upload a data folder as a zip",
)
def upload_dataset(
    runtime: RuntimeDep,
    key: PlannerKey,
    file: Annotated[UploadFile, File(description="a zip of a data folder (docs/data.md)")],
    name: Annotated[Text | None, Form(description="a name for it (default: the file's name)")] = None,
) -> DatasetPublic:
    """Check every table against its contract and keep the dataset; refused whole otherwise (422, with
    every problem as ``file:row:column: message`` in ``details``). Unsafe zips (paths leaving the
    folder, links, zip bombs) are refused before anything is unpacked past the limits."""
    limit = runtime.settings.max_upload_mb * 2**20
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"the upload is larger than the limit of {runtime.settings.max_upload_mb} MB")
    view = register_dataset(
        runtime.sessions,
        archive=data,
        name=name or file.filename or "upload.zip",
        actor=key.id,
        max_unpacked_bytes=runtime.settings.max_unpacked_mb * 2**20,
    )
    return DatasetPublic.model_validate(view)


@router.get(
    "/{dataset_id}",
    response_model=DatasetPublic,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="A dataset's summary",
)
def read_dataset(runtime: RuntimeDep, _key: PlannerKey, dataset_id: Id) -> DatasetPublic:
    return DatasetPublic.model_validate(get_dataset(runtime.sessions, dataset_id))
