"""Campaigns layer: did win-back campaigns pay off (ROI, lift of treatment over control)."""

from dagster import AssetsDefinition, MaterializeResult

from assets.checks import table_check_result, table_check_specs
from assets.policies import warehouse_asset
from rekindle import campaigns
from rekindle.settings import Settings
from resources.warehouse import WarehouseResource


def build_campaign_assets(settings: Settings) -> list[AssetsDefinition]:
    @warehouse_asset(
        settings,
        group_name="campaigns",
        deps=["raw_campaign_touches", "customer_daily_activity"],
        kinds={"sql", settings.warehouse_kind},
        check_specs=table_check_specs("campaign_performance"),
        description="Per campaign and group (treatment/control): customers targeted, inactive ones targeted, "
        f"how many came back within {settings.attribution_days} days, their revenue, cost, ROI, and the "
        "treatment's lift over control with a 95% interval.",
    )
    def campaign_performance(warehouse: WarehouseResource) -> MaterializeResult:
        with warehouse.begin() as conn:
            rows = campaigns.refresh_campaign_performance(
                conn, warehouse.schema_name, settings.primary_inactivity_days, settings.attribution_days
            )
        check = table_check_result(warehouse, "campaign_performance", settings.quality_docs_dir)
        return MaterializeResult(metadata={"dagster/row_count": rows}, check_results=[check])

    return [campaign_performance]
