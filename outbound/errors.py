"""Refusals of outbound's services."""

from __future__ import annotations


class CallbackUrlInvalid(Exception):
    """The account callback URL was refused; `field` names the input ("url").

    `str()` is "url: <reason>", the text the API's 422 answer has always carried.
    """

    def __init__(self, message: str, field: str = "url") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
