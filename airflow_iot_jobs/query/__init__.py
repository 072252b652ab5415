"""Query languages for selecting devices: a neutral core plus one module per dialect.

The core knows nothing of any service: :mod:`~airflow_iot_jobs.query.values` (the value model and comparison
rules), :mod:`~airflow_iot_jobs.query.tree` (the syntax tree and its evaluation, built on
:mod:`~airflow_iot_jobs.query.predicates` and :mod:`~airflow_iot_jobs.query.functions`),
:mod:`~airflow_iot_jobs.query.builder` (lark parse tree → syntax tree), :mod:`~airflow_iot_jobs.query.compilation`
(the :class:`~airflow_iot_jobs.query.compilation.Dialect` pipeline: input checks, cached parser, depth limit) and
:mod:`~airflow_iot_jobs.query.diagnostics` (readable syntax errors). :mod:`~airflow_iot_jobs.query.iothub` is the
IoT Hub query language.

A dialect plugs in with a lark grammar that reuses the core's rule names, a ``TreeBuilder`` subclass (its sources,
functions, field-path normalisation), a ``Vocabulary`` for its error messages, and a ``Dialect`` subclass tying
them together; its parse functions return the same tree, so evaluation is shared. An IoT Central device-group
filter (``SELECT * FROM devices WHERE $template = "dtmi:…" AND $provisioned = true``) would be such a dialect,
mapping ``$template`` and friends to record fields in ``field_ref``.

Importing this package, or a dialect module, does not import lark; the first parse does.
"""
