"""The price table: staff-editable prices per operation, model tier and resolution."""

from __future__ import annotations

from django.db import models

from billing import catalog


class Price(models.Model):
    """A staff-editable price row; overrides BILLING_DEFAULT_PRICES for its combination.

    Price in credits = flat_credits + credits_per_second * seconds of output. `audio` False
    prices videos generated without sound (where the model can switch it off); without such a
    row they cost BILLING_SILENT_PRICE_PERCENT of the audio price.
    """

    # The product vocabulary is billing/catalog.py's; these aliases keep `Price.Tier` etc.
    Operation = catalog.Operation
    Tier = catalog.Tier
    Resolution = catalog.Resolution

    operation = models.CharField(max_length=16, choices=Operation.choices)
    model_tier = models.CharField(max_length=16, choices=Tier.choices)
    resolution = models.CharField(max_length=8, choices=Resolution.choices)
    audio = models.BooleanField(default=True)
    flat_credits = models.PositiveIntegerField(default=0)
    credits_per_second = models.PositiveIntegerField(default=0)
    active = models.BooleanField(
        default=True, help_text="Inactive rows make the combination unavailable."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["operation", "model_tier", "resolution", "-audio"]
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "model_tier", "resolution", "audio"],
                name="price_unique_combination",
            ),
        ]

    def __str__(self) -> str:
        silent = "" if self.audio else "/silent"
        return f"{self.operation}/{self.model_tier}/{self.resolution}{silent}"
