"""Lists held by the provider: the whole issue goes out as one campaign, exactly once."""

from __future__ import annotations

from newsletter.config import Config
from newsletter.deliver.engine import RunResult
from newsletter.deliver.ledger import Ledger, SendRecord
from newsletter.deliver.providers import Provider, ProviderError, create_provider
from newsletter.deliver.reports import DeliveryReport
from newsletter.deliver.states import CampaignState, Resolution
from newsletter.errors import DeliveryError


async def execute_campaign(
    ledger: Ledger,
    config: Config,
    send: SendRecord,
    *,
    secret: bytes,
    provider: Provider | None = None,
) -> DeliveryReport:
    """Hand the whole issue to the provider's campaign path, exactly once.

    The campaign is recorded in flight before the request and with its answer after; one found
    in flight (a crash) becomes uncertain and waits for ``--resolve-uncertain``.
    """
    list_id = config.delivery.audience.list_id
    if list_id is None:
        raise DeliveryError(config.problem("delivery.audience.list_id", "not set"))
    record = ledger.campaign(send.id)
    if record is not None and record.state is CampaignState.INFLIGHT:
        ledger.set_campaign(send.id, record.list_id, CampaignState.UNCERTAIN, error="interrupted")
    record = ledger.campaign(send.id)
    if record is None or record.state in (CampaignState.PENDING, CampaignState.FAILED):
        provider = provider or create_provider(config, secret=secret, name=send.provider)
        key = f"{send.issue_date.isoformat()}-{send.kind}{send.run}-campaign"
        ledger.set_campaign(send.id, list_id, CampaignState.INFLIGHT)
        try:
            async with provider:
                ref = await provider.send_campaign(send.rendered, list_id, key=key)
        except ProviderError as exc:
            ledger.set_campaign(send.id, list_id, CampaignState.FAILED, error=str(exc))
            raise
        except Exception as exc:
            ledger.set_campaign(send.id, list_id, CampaignState.UNCERTAIN, error=repr(exc))
            raise DeliveryError(
                f"provider '{provider.name}' failed while sending the campaign: {exc!r}; "
                f"its fate is uncertain (see 'newsletter status {send.issue_date}')"
            ) from exc
        ledger.set_campaign(send.id, list_id, CampaignState.SENT, ref=ref)
    record = ledger.campaign(send.id)
    if record is not None and record.state in (CampaignState.SENT, CampaignState.SKIPPED):
        ledger.mark_finished(send.id)
    return DeliveryReport(
        ledger.get_send(send.id), RunResult.nothing(), ledger.counts(send.id), campaign=record
    )


def resolve_uncertain_campaign(ledger: Ledger, send: SendRecord, decision: Resolution | str) -> int:
    """``resend``: an uncertain campaign may go again; ``skip``: it counts as done."""
    decision = Resolution(decision)
    record = ledger.campaign(send.id)
    if record is None or record.state is not CampaignState.UNCERTAIN:
        return 0
    new_state = CampaignState.PENDING if decision is Resolution.RESEND else CampaignState.SKIPPED
    ledger.set_campaign(send.id, record.list_id, new_state, error=f"uncertain; {decision}")
    return 1
