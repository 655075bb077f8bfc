{#
  Column schema and column lineage for the Dagster UI.

  dagster-dbt reads a JSON line that a model logs (a JinjaLogInfo event) as that model's
  column metadata: `{"columns": {name: {"data_type", "description"}}, "parents":
  {relation_name: {"columns": {...}}}}`. On the model's result event it turns `columns`
  into the asset's column schema and, when `parents` is present, runs sqlglot over the
  compiled SQL with the parents' columns to derive the column lineage. The columns come
  from dbt's own connection: the Dagster process cannot open the DuckDB file while dbt
  holds it.

  The post-hook (dbt_project.yml) logs only when dbt runs under Dagster, which sets
  DAGSTER_DBT_CLI=true; plain `dbt` runs log nothing. Everything sits behind `execute`,
  so parsing never reads the environment variable and partial parsing is unaffected.

  A model gets lineage unless its meta says `column_lineage: false` (sqlglot takes tens
  of seconds on the widest models: int_trend, int_alpha158, fct_features) or it reads the lake: the
  source, and int_bars on a partition window, read Parquet files through read_parquet,
  which is no relation sqlglot can resolve. Such a model logs its own columns alone,
  which still gives the typed column schema.
#}

{#- `{name: {data_type, description}}` of `relation`, with the descriptions of `declared`
    (a node's documented columns). -#}
{% macro column_metadata(relation, declared) -%}
    {%- set columns = {} -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- set name = column.name | lower -%}
        {%- set entry = {'data_type': column.data_type} -%}
        {%- if name in declared and declared[name].description -%}
            {%- do entry.update({'description': declared[name].description}) -%}
        {%- endif -%}
        {%- do columns.update({name: entry}) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}

{#- The columns of every model that `model` selects from, keyed by relation name, or none
    when it reads the lake. -#}
{% macro parent_column_metadata() -%}
    {%- if 'read_parquet(' in (model.compiled_code or '') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set parents = {} -%}
    {%- for unique_id in model.depends_on.nodes -%}
        {%- set node = graph.nodes.get(unique_id) -%}
        {%- if node is none -%}
            {{ return(none) }}
        {%- endif -%}
        {%- set relation = adapter.get_relation(
            database=node.database, schema=node.schema, identifier=node.alias
        ) -%}
        {%- if relation is not none -%}
            {%- do parents.update({
                node.relation_name: {'columns': column_metadata(relation, node.columns)}
            }) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(parents) }}
{%- endmacro %}

{% macro log_column_lineage() -%}
    {%- if execute and env_var('DAGSTER_DBT_CLI', '') == 'true' -%}
        {%- set metadata = {'columns': column_metadata(this, model.columns)} -%}
        {%- if model.config.meta.get('column_lineage', true) -%}
            {%- set parents = parent_column_metadata() -%}
            {%- if parents is not none -%}
                {%- do metadata.update({'parents': parents}) -%}
            {%- endif -%}
        {%- endif -%}
        {%- do log(tojson(metadata), info=true) -%}
    {%- endif -%}
{%- endmacro %}
