-- 0013_reconcile: reconciling metered cost with the Azure bill (issue 12, item 4;
-- docs/architecture.md, "Reconciliation").
--
-- Claude in Foundry is billed per Foundry resource (one Azure Marketplace meter), so the bill
-- can only be matched per resource and day. foundry_resources maps a deployment name (as
-- events carry it) to the ARM id of the Foundry resource that serves it; ids are compared
-- case-insensitively, as Azure does.
CREATE TABLE foundry_resources (
    deployment text PRIMARY KEY,
    resource_id text NOT NULL CHECK (resource_id ~* '^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/.+'),
    set_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX foundry_resources_resource ON foundry_resources (lower(resource_id));

-- One `tallyctl reconcile import` run: the files of one Cost Management export run (its
-- partitions given together). The newest import holding rows of a billing period is that
-- period's bill (azure_cost_periods): a month-to-date export re-run every day replaces
-- the previous run instead of adding to it.
CREATE TABLE azure_cost_imports (
    id bigserial PRIMARY KEY,
    imported_at timestamptz NOT NULL DEFAULT now(),
    rows_total bigint NOT NULL,
    rows_claude bigint NOT NULL,
    rows_attributed bigint NOT NULL
);

-- Each file once: re-importing the same bytes is a no-op, never a second count.
CREATE TABLE azure_cost_files (
    sha256 text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    import_id bigint NOT NULL REFERENCES azure_cost_imports ON DELETE CASCADE,
    name text NOT NULL,
    rows_total bigint NOT NULL
);

-- The rows of the files, as exported (FOCUS columns; NULL where the export left a cell
-- empty). billed_cost_usd: x_BilledCostInUsd, else BilledCost when BillingCurrency is USD.
CREATE TABLE azure_cost_rows (
    file_sha256 text NOT NULL REFERENCES azure_cost_files ON DELETE CASCADE,
    record integer NOT NULL,
    import_id bigint NOT NULL REFERENCES azure_cost_imports ON DELETE CASCADE,
    billing_period_start timestamptz NOT NULL,
    charge_period_start timestamptz NOT NULL,
    charge_period_end timestamptz NOT NULL,
    charge_category text NOT NULL,
    charge_class text,
    publisher_name text,
    resource_id text,
    resource_name text,
    resource_group text,
    sku_meter text,
    billing_currency text NOT NULL,
    billed_cost numeric NOT NULL,
    billed_cost_usd numeric,
    PRIMARY KEY (file_sha256, record)
);
CREATE INDEX azure_cost_rows_import ON azure_cost_rows (import_id, charge_period_start);

-- The import that is the bill of each billing period (the newest holding its rows), and the
-- end of the charge periods it covers: days after it are not billed yet.
CREATE TABLE azure_cost_periods (
    billing_period_start timestamptz PRIMARY KEY,
    import_id bigint NOT NULL REFERENCES azure_cost_imports ON DELETE CASCADE,
    covered_to timestamptz NOT NULL
);
