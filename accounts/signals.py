"""Cache invalidation only: saving or deleting a key or a user drops cached authentication
entries, so a deactivated user or an edited key takes effect in every process at once."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import ApiKey, User
from accounts.services import api_key_cache_forget


@receiver([post_save, post_delete], sender=ApiKey)
def api_key_changed(sender: type[ApiKey], instance: ApiKey, **kwargs: Any) -> None:
    api_key_cache_forget(digests=[instance.digest])


@receiver([post_save, post_delete], sender=User)
def user_changed(sender: type[User], instance: User, **kwargs: Any) -> None:
    if kwargs.get("created"):
        return
    digests = list(ApiKey.objects.filter(user_id=instance.pk).values_list("digest", flat=True))
    if digests:
        api_key_cache_forget(digests=digests)
