"""``/keys``: an operator makes keys (shown once) and revokes them."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.http.deps import OperatorKey, ServicesDep
from api.http.errors import error_responses
from api.http.schemas.common import Id
from api.http.schemas.keys import KeyCreate, KeyCreated, KeyPublic
from api.keys import create_key, revoke_key

__all__ = ["router"]

router = APIRouter(prefix="/keys", tags=["keys"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreated,
    responses=error_responses(401, 403, 413, 422, 503),
    summary="Create an API key (shown once)",
)
def create(services: ServicesDep, key: OperatorKey, body: KeyCreate) -> KeyCreated:
    info, secret = create_key(services.runtime.sessions, role=body.role, name=body.name, actor=key.id)
    return KeyCreated.model_validate({**info.__dict__, "key": secret})


@router.delete(
    "/{key_id}",
    response_model=KeyPublic,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="Revoke an API key",
)
def revoke(services: ServicesDep, key: OperatorKey, key_id: Id) -> KeyPublic:
    """The key stops working at once on this process, and within seconds on the others."""
    info = revoke_key(services.runtime.sessions, key_id, actor=key.id)
    services.keys.forget()
    return KeyPublic.model_validate(info.__dict__)
