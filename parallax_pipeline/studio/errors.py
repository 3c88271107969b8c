"""Refusals in one shape: a status and one entry per problem, each naming its field or
file (``loc``), like FastAPI's own validation errors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    loc: tuple[str, ...]
    msg: str
    type: str = "invalid"

    def as_json(self) -> dict:
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


class Refused(Exception):
    def __init__(self, status: int, problems: list[Problem], headers: dict[str, str] | None = None):
        super().__init__("; ".join(problem.msg for problem in problems))
        self.status, self.problems, self.headers = status, problems, headers or {}


def not_found(what: str) -> Refused:
    return Refused(404, [Problem(("path",), f"no {what} with this id", "not_found")])
