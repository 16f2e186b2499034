"""Rule simulation for staff: a draft or changed reward rule over past conversions, writing nothing. Here because it
reads conversions; the arithmetic is `rewards.selectors.rule_simulate`, which sees only plain facts."""

from datetime import datetime, timedelta

from django import forms
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.db import transaction
from django.template.response import TemplateResponse
from django.utils import timezone

from conversions.models import Conversion
from conversions.processing.pipeline import conversion_facts
from referrals.models import Partner
from rewards.admin import RewardRuleForm
from rewards.models import RewardRule
from rewards.selectors import SimulatedConversion, SimulationResult, rewards_by_conversion, rule_simulate

MAX_DAYS = 366


def conversions_for_simulation(*, offer_id: int, since: datetime) -> list[SimulatedConversion]:
    """The offer's decided conversions since `since` (accepted or rejected, not pending), with what they earned."""
    decided = Conversion.objects.filter(status__in=[Conversion.Status.ACCEPTED, Conversion.Status.REJECTED])
    query = decided.filter(offer_id=offer_id, occurred_at__gte=since, partner__isnull=False)
    conversions = list(query.select_related("offer__advertiser"))
    rewards = rewards_by_conversion(conversion.pk for conversion in conversions)
    simulated = []
    for conversion in conversions:
        reward = rewards.get(conversion.pk)
        live = reward is not None and reward.status != "reversed"
        simulated.append(
            SimulatedConversion(
                conversion_id=conversion.pk,
                offer=conversion.offer,
                facts=conversion_facts(conversion),
                actual_amount=reward.amount if live else 0,
                actual_currency=reward.currency if reward else conversion.currency,
            )
        )
    return simulated


class SimulationForm(RewardRuleForm):
    """A draft rule (the rule admin's form and checks) and how far back to replay it."""

    days = forms.IntegerField(min_value=1, max_value=MAX_DAYS, initial=30, help_text="Replay the last N days.")


@staff_member_required
def rule_simulation(request):
    """GET ?rule=<id> starts from an existing rule (a change); without it, a new draft rule."""
    base = RewardRule.objects.filter(pk=request.GET.get("rule") or 0).first()
    form = SimulationForm(request.POST or None, instance=base)
    result: SimulationResult | None = None
    partners = {}
    if request.method == "POST" and form.is_valid():
        # Build the unsaved rule and be certain nothing is written, whatever a rule's code might try.
        with transaction.atomic():
            draft = form.save(commit=False)
            since = timezone.now() - timedelta(days=form.cleaned_data["days"])
            result = rule_simulate(
                draft=draft, conversions=conversions_for_simulation(offer_id=draft.offer_id, since=since)
            )
            transaction.set_rollback(True)
        partner_ids = [line.partner_id for line in result.lines]
        partners = {partner.pk: str(partner) for partner in Partner.objects.filter(pk__in=partner_ids)}
    context = {
        **admin.site.each_context(request),
        "title": "Simulate a reward rule",
        "form": form,
        "base": base,
        "result": result,
        "lines": [(partners.get(line.partner_id, line.partner_id), line) for line in result.lines] if result else [],
    }
    return TemplateResponse(request, "conversions/rule_simulation.html", context)
