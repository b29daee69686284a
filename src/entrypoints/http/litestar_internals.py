"""`ClosedStructSchemaPlugin`: Litestar's OpenAPI schema plugin for msgspec structs, which also
documents a body that refuses unknown fields.

Private API: `StructSchemaPlugin` and `SchemaCreator` live in `litestar._openapi`, a private
package that any Litestar release may change. The service subclasses the plugin rather than
writing its own, so that the API document describes request bodies exactly as Litestar does, plus
`additionalProperties: false` where the body forbids unknown fields.

Checked against Litestar 2.25.0, where the plugin's hook is
`to_openapi_schema(field_definition, schema_creator) -> Schema`. pyproject.toml pins
`litestar<2.26`; before raising the pin, check that hook and run
tests/integration/test_http_api.py, whose OpenAPI document tests cover this plugin.
"""

from __future__ import annotations

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar._openapi.schema_generation.schema import SchemaCreator
from litestar.openapi.spec import Schema
from litestar.typing import FieldDefinition


class ClosedStructSchemaPlugin(StructSchemaPlugin):
    """Documents a body that refuses unknown fields (`forbid_unknown_fields`) as
    `additionalProperties: false`; Litestar's plugin leaves that out, so the document would say
    that a body the service refuses with a 400 is valid."""

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        struct = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(struct, msgspec.inspect.StructType) and struct.forbid_unknown_fields:
            schema.additional_properties = False
        return schema
