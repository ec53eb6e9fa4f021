"""Staff view of API keys: the same settings customers edit (scopes, budget, model allow-list,
resolution and seconds, rate limit, concurrency cap, expiry, allowed addresses), saved through
the same service (product vocabulary checked, every change audited with the staff member as
actor), and each key's audit trail, read-only. Registered here, not in accounts, because the
key's product limits are generation's vocabulary (generation.services.keys)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ALL_SCOPES, LIMIT_FIELDS, ApiKey, ApiKeyChange, BudgetPeriod, User
from accounts.services import ApiKeyLimitsInvalid, api_key_revoke
from billing.catalog import RESOLUTIONS
from billing.selectors import key_budgets_used
from generation.services import (
    api_key_issue,
    api_key_settings_update,
    api_key_settings_validate,
    key_model_choices,
    key_models_as_ids,
)


class ApiKeySettingsForm(forms.ModelForm):
    """The key's settings; the service's checks run in `clean`, errors next to the field."""

    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in ALL_SCOPES], widget=forms.CheckboxSelectMultiple
    )
    allowed_models = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every model. Ids of GET /api/v1/models (tiers it runs).",
    )
    max_resolution = forms.ChoiceField(
        choices=[("", "any"), *[(r, r) for r in RESOLUTIONS]], required=False
    )
    budget_period = forms.ChoiceField(choices=BudgetPeriod.choices)
    allowed_ips = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Addresses or CIDRs, one per line or comma-separated; empty: any.",
    )

    class Meta:
        model = ApiKey
        fields = LIMIT_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.MultipleChoiceField, self.fields["allowed_models"])
        offered = key_model_choices()
        field.choices = [(m, f"{m} ({', '.join(tiers)})") for m, tiers in offered]
        if self.instance.pk:
            self.initial["allowed_ips"] = "\n".join(self.instance.allowed_ips or [])
            stored = key_models_as_ids(self.instance.allowed_models or [])
            self.initial["allowed_models"] = stored
            ids = {m for m, _tiers in offered}
            # Shown ticked, never dropped silently: saving asks to untick it.
            field.choices += [(m, f"{m} (no longer offered)") for m in stored if m not in ids]

    def clean_allowed_ips(self) -> list[str]:
        text = self.cleaned_data.get("allowed_ips") or ""
        return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        changes = {f: cleaned[f] for f in LIMIT_FIELDS if f in cleaned}
        try:
            self.settings = api_key_settings_validate(changes=changes)
        except ApiKeyLimitsInvalid as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return cleaned


class ApiKeyCreateForm(ApiKeySettingsForm):
    """Creating: scopes and budget period may be left empty (all scopes, monthly)."""

    class Meta:
        model = ApiKey
        fields = ("user", *LIMIT_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scopes"].required = False
        self.fields["budget_period"].required = False

    def clean_scopes(self) -> list[str]:
        return list(self.cleaned_data.get("scopes") or ALL_SCOPES)

    def clean_budget_period(self) -> str:
        return str(self.cleaned_data.get("budget_period") or BudgetPeriod.MONTH)


class ApiKeyChangeInline(admin.TabularInline):
    model = ApiKeyChange
    extra = 0
    can_delete = False
    fields = ("created_at", "actor", "via", "field", "old", "new")
    readonly_fields = fields
    ordering = ("-created_at", "-id")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "prefix",
        "name",
        "user",
        "scope_list",
        "budget",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("revoked_at", "budget_period")
    search_fields = ("prefix", "name", "user__email")
    list_select_related = ("user",)
    actions = ("revoke_keys",)
    raw_id_fields = ("user",)
    inlines = (ApiKeyChangeInline,)
    readonly_fields = ("user", "prefix", "created_at", "last_used_at", "revoked_at", "spend")

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kwargs["form"] = ApiKeySettingsForm if obj is not None else ApiKeyCreateForm
        kwargs["fields"] = LIMIT_FIELDS if obj is not None else ("user", *LIMIT_FIELDS)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("user", *LIMIT_FIELDS)
        return (
            "user",
            "prefix",
            "created_at",
            "last_used_at",
            "revoked_at",
            "spend",
            *LIMIT_FIELDS,
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else ()

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.inlines if obj is not None else ()

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes or [])

    @admin.display(description="budget")
    def budget(self, obj: ApiKey) -> str:
        return f"{obj.budget_credits} / {obj.budget_period}" if obj.budget_credits else "-"

    @admin.display(description="budget used this period")
    def spend(self, obj: ApiKey) -> str:
        if not obj.budget_credits:
            return "no budget"
        used = key_budgets_used(api_keys=[obj])[obj.pk]
        return f"{used} of {obj.budget_credits} credits ({obj.budget_period})"

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        settings_ = dict(form.settings)
        if change:
            actor = request.user if isinstance(request.user, User) else None
            updated = api_key_settings_update(
                api_key=obj, changes=settings_, actor=actor, via="admin"
            )
            obj.refresh_from_db()
            obj.pk = updated.pk
            return
        name = settings_.pop("name", "default")
        expires_at = settings_.pop("expires_at", None)
        created = api_key_issue(
            user=form.cleaned_data["user"],
            name=name,
            expires_at=expires_at,
            limits=settings_,
            actor=request.user if isinstance(request.user, User) else None,
            via="admin",
        )
        obj.pk = created.api_key.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            f"New API key (copy it now, it will not be shown again): {created.token}",
            level=messages.WARNING,
        )

    @admin.action(description="Revoke selected API keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")
