"""Reports layer: the metrics as charts, one self-contained HTML page (see rekindle.report)."""

from dagster import AssetsDefinition, MaterializeResult, MetadataValue

from assets.policies import warehouse_asset
from rekindle import report
from rekindle.settings import Settings
from resources.warehouse import WarehouseResource


def build_report_assets(settings: Settings) -> list[AssetsDefinition]:
    @warehouse_asset(
        settings,
        group_name="reports",
        deps=["lifecycle_daily", "reactivation_daily", "retention_daily", "cohort_retention", "inactive_segments",
              "campaign_performance"],
        kinds={"python", "matplotlib", "html"},
        description="An HTML page of charts that works offline: reactivation, churn and retention rates over time "
        "per N and P, lifecycle bars, the cohort heatmap, inactive segments and campaign lift with its 95% "
        f"interval; each chart also as SVG beside it. Written to {settings.metrics_report_path}.",
    )
    def metrics_report(warehouse: WarehouseResource) -> MaterializeResult:
        data = report.load_report_data(
            warehouse.read_frame, warehouse.qualified, settings.inactivity_days, settings.period_days, settings.currency
        )
        rendered = report.render_report(data)
        path = report.write_report(rendered, settings.metrics_report_path).resolve()
        return MaterializeResult(metadata={
            "path": MetadataValue.path(str(path)),
            "url": MetadataValue.url(path.as_uri()),
            "as_of_date": str(data.as_of) if data.as_of else "no data yet",
            "charts": ", ".join(f"{chart.name}.svg" for chart in rendered.charts) or "none",
        })

    return [metrics_report]
