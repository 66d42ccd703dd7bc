"""Routes: provider webhooks: POST /webhooks/sendgrid."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
