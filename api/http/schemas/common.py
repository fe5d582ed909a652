"""Types every resource shares: the one error shape, ids and text that the database can store, pages."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["ErrorBody", "ErrorResponse", "Id", "Text"]

# Ids and free text from a request: no control characters (PostgreSQL refuses NUL in text, and an id
# never needs a tab or newline), bounded to what the columns hold.
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
Text = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. not_found, invalid_data, unavailable")
    message: str = Field(description="what went wrong, in words a planner can act on")
    details: list[str] = Field(
        default_factory=list, description="one line per problem, e.g. units.csv:12:state: not a unit state"
    )


class ErrorResponse(BaseModel):
    """Every error the API answers, whatever its status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "invalid_data",
                        "message": "1 problem(s) in the data; nothing was stored",
                        "details": ["units.csv:12:state: 'lost' is not one of with_customer, returning, ..."],
                    }
                }
            ]
        }
    )
    error: ErrorBody
