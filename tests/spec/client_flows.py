"""A partner's and a staff member's first steps, through the Python client generated from openapi.yaml.

Run by ``bin/spec-check`` against a live server on loopback; not a pytest module, because it needs the
generated package and the server. Every response the client receives is checked against the spec (a
declared status, a declared content type, a body valid under the declared schema with formats asserted),
and every call must come back parsed into the generated model, as a front end written on the client would
need it. Exits non-zero, naming the call, at the first difference.

    client_flows.py --client-dir DIR --url URL --staff-token TOKEN [--spec openapi.yaml]
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_URI = "urn:confiotes:openapi"


class SpecMismatch(AssertionError):
    """A response, or what the generated client made of it, differs from openapi.yaml."""


class ResponseChecker:
    """An httpx response hook: each response must be one the spec declares for its operation."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.registry: Registry = Registry().with_resource(
            SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT4))
        # Literal segments first, so that /contacts/upsert is not read as /contacts/{contact_id}.
        self.routes = sorted(
            ((re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"), path)
             for path in spec["paths"]),
            key=lambda route: route[1].count("{"))
        self.checked: list[str] = []

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        """The spec's path template and operation for a request."""
        for pattern, template in self.routes:
            if pattern.match(path) and method in self.spec["paths"][template]:
                return template, self.spec["paths"][template][method]
        raise SpecMismatch(f"{method.upper()} {path} is not in the spec")

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        method, path = response.request.method.lower(), response.request.url.path
        template, operation = self.operation(method, path)
        where = f"{method.upper()} {path} -> {response.status_code}"
        declared = operation["responses"].get(str(response.status_code))
        if declared is None:
            raise SpecMismatch(f"{where}: status not declared (declared: {sorted(operation['responses'])}); "
                               f"body: {response.text[:300]}")
        content = declared.get("content", {})
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if not content:
            if response.content:
                raise SpecMismatch(f"{where}: the spec declares no body, the server sent {media_type}")
        elif media_type not in content:
            raise SpecMismatch(f"{where}: content type {media_type!r} not declared ({sorted(content)})")
        elif media_type == "application/json":
            pointer = "/".join(part.replace("~", "~0").replace("/", "~1") for part in
                               ("paths", template, method, "responses", str(response.status_code),
                                "content", media_type, "schema"))
            validator = OAS30Validator({"$ref": f"{SPEC_URI}#/{pointer}"}, registry=self.registry,
                                       format_checker=oas30_format_checker)
            problems = sorted(validator.iter_errors(response.json()), key=lambda error: list(error.path))
            if problems:
                raise SpecMismatch(f"{where}: body does not match the spec:\n" + "\n".join(
                    f"  at {'/'.join(map(str, problem.path)) or '(root)'}: {problem.message}"
                    for problem in problems[:10]))
        self.checked.append(where)


def parsed(response: Any, model: type, call: str) -> Any:
    """What the generated client parsed, which must be ``model``: not an ``Error``, not ``None``."""
    if not isinstance(response.parsed, model):
        raise SpecMismatch(f"{call}: expected {model.__name__}, the client gave "
                           f"{type(response.parsed).__name__} (status {response.status_code}: "
                           f"{response.content[:300]!r})")
    return response.parsed


def run_staff_flow(client_package: str, staff: Any) -> None:
    """Staff upsert a contact met at a tasting, create a campaign and read the weekly ROI report."""
    contacts = importlib.import_module(f"{client_package}.api.contacts.contacts_upsert_create")
    campaigns = importlib.import_module(f"{client_package}.api.campaigns.campaigns_create")
    weekly = importlib.import_module(f"{client_package}.api.reports.reports_weekly_retrieve")
    models = importlib.import_module(f"{client_package}.models")

    body = models.ContactUpsertInputRequest(phone="+237 6 77 12 34 56", name="Awa Ngono", city="Douala",
                                            consents=[models.ChannelEnum.WHATSAPP])
    upserted = parsed(contacts.sync_detailed(client=staff, body=body), models.UpsertOutput, "upsert a contact")
    again = parsed(contacts.sync_detailed(client=staff, body=body), models.UpsertOutput, "upsert it again")
    if again.contact.id != upserted.contact.id:
        raise SpecMismatch("the same phone upserted twice made two contacts")

    code = f"SPEC-{uuid.uuid4().hex[:8].upper()}"
    campaign = parsed(campaigns.sync_detailed(client=staff, body=models.CampaignInRequest(
        name="Spec check tasting", code=code, channel=models.CampaignChannelEnum.TASTING)),
        models.CampaignOut, "create a campaign")
    if campaign.code != code:
        raise SpecMismatch(f"the campaign came back with code {campaign.code!r}, not {code!r}")

    parsed(weekly.sync_detailed(client=staff), models.WeeklyReport, "read the weekly report")


def run_partner_flow(client_package: str, staff: Any, base_url: str, checker: ResponseChecker) -> None:
    """A reseller, with the API key staff gave it, orders a gift box, polls, fetches it, then gets a 304."""
    package = importlib.import_module(client_package)
    partners = importlib.import_module(f"{client_package}.api.partners.partners_create")
    api_keys = importlib.import_module(f"{client_package}.api.partners.partners_api_keys_create")
    gift_boxes = importlib.import_module(f"{client_package}.api.partner_api.partner_gift_boxes_list")
    create = importlib.import_module(f"{client_package}.api.partner_api.partner_orders_create")
    poll = importlib.import_module(f"{client_package}.api.partner_api.partner_orders_poll")
    fetch = importlib.import_module(f"{client_package}.api.partner_api.partner_order_get")
    models = importlib.import_module(f"{client_package}.models")

    partner = parsed(partners.sync_detailed(client=staff, body=models.PartnerInRequest(name="Épicerie du Port")),
                     models.PartnerWithSecret, "staff create a partner")
    key = parsed(api_keys.sync_detailed(partner.id, client=staff, body=models.ApiKeyInRequest(name="spec check")),
                 models.ApiKeyCreated, "staff create its API key")
    reseller = package.AuthenticatedClient(base_url=base_url, token=key.key, prefix="Api-Key",
                                           httpx_args={"event_hooks": {"response": [checker]}})

    boxes = gift_boxes.sync_detailed(client=reseller)
    if not isinstance(boxes.parsed, list) or not boxes.parsed:
        raise SpecMismatch(f"the partner sees no gift box to order (status {boxes.status_code})")
    order = parsed(create.sync_detailed(client=reseller, idempotency_key=uuid.uuid4().hex,
                                        body=models.PartnerOrderInRequest(
                                            customer=models.CustomerInRequest(phone="+237 6 99 88 77 66",
                                                                              name="Paul Essomba"),
                                            lines=[models.PartnerOrderLineInRequest(gift_box_id=boxes.parsed[0].id,
                                                                                    quantity=2)],
                                            partner_reference="PO-2026-001")),
                   models.PartnerOrder, "create an order")

    page = parsed(poll.sync_detailed(client=reseller, page_size=50), models.PartnerOrderPage, "list orders")
    # The poll holds back the last seconds of changes until they settle, so the new order may not be listed
    # yet; the page must still parse, and it must hold no other partner's order.
    foreign = [item.number for item in page.results if item.number != order.number]
    if foreign:
        raise SpecMismatch(f"a new partner's poll lists orders it did not make: {foreign}")

    first = fetch.sync_detailed(order.number, client=reseller)
    fetched = parsed(first, models.PartnerOrder, "fetch the order")
    if fetched.number != order.number:
        raise SpecMismatch(f"fetched {fetched.number!r} instead of {order.number!r}")
    etag = first.headers.get("etag")
    if not etag:
        raise SpecMismatch("the order came without an ETag")
    unchanged = fetch.sync_detailed(order.number, client=reseller, if_none_match=etag)
    if unchanged.status_code != 304:
        raise SpecMismatch(f"If-None-Match with the current ETag gave {unchanged.status_code}, not 304")


def main() -> int:
    """Generate nothing, start nothing: run both flows with the given client against the given server."""
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--client-dir", required=True, type=Path, help="folder holding the generated package")
    arguments.add_argument("--package", default="confiotes_client")
    arguments.add_argument("--url", required=True)
    arguments.add_argument("--staff-token", required=True)
    arguments.add_argument("--spec", default=Path(__file__).resolve().parents[2] / "openapi.yaml", type=Path)
    options = arguments.parse_args()

    sys.path.insert(0, str(options.client_dir))
    package = importlib.import_module(options.package)
    checker = ResponseChecker(yaml.safe_load(options.spec.read_text()))
    staff = package.AuthenticatedClient(base_url=options.url, token=options.staff_token, prefix="Token",
                                        httpx_args={"event_hooks": {"response": [checker]}})
    try:
        run_staff_flow(options.package, staff)
        run_partner_flow(options.package, staff, options.url, checker)
    except SpecMismatch as mismatch:
        print(f"client flows: {mismatch}", file=sys.stderr)
        return 1
    print(f"client flows: {len(checker.checked)} responses match the spec:")
    for line in checker.checked:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
