"""Dashboard page module (being built): its router is included by `create_app`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
