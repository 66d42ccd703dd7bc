"""Routes: the editors' dashboard under /admin."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
