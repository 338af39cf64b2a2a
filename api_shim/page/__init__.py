"""The page for people, served under ``/ui/`` by the API process (:func:`create_page_app`)."""

from api_shim.page.app import create_page_app
from api_shim.page.deps import PREFIX

__all__ = ["PREFIX", "create_page_app"]
