#!/usr/bin/python3
"""Print, as JSON, the protobuf schema that Debian's pycriu (CRIU 3.17) was built with.

Used by test/unit/proto-schema.test.ts to compare our own .proto files against the
descriptors serialized in /usr/lib/python3/dist-packages/pycriu/images/*_pb2.py.

Output shape:
  {
    "messages": { "<full name>": { "file": "<proto file>", "fields": [
        { "name", "number", "label", "type", "type_name", "packed", "default"?,
          "criu": {...} } ] } },
    "enums":    { "<full name>": { "file": "<proto file>", "values": { "<NAME>": <number> } } }
  }

Full names are the protobuf full names without the leading dot (CRIU has no package, so
top-level names are bare: "core_entry", nested ones are dotted: "core_entry.march").
Labels are "optional" | "required" | "repeated"; types are descriptor type names in lower
case without the TYPE_ prefix ("uint32", "message", "enum", ...). "default" is present
only for fields with an explicit [default = ...], as the text the .proto file gave.
"""

import glob
import importlib
import json
import os
import sys

PYCRIU_IMAGES = os.environ.get(
    "PYCRIU_IMAGES", "/usr/lib/python3/dist-packages/pycriu/images"
)


def main() -> int:
    if not os.path.isdir(PYCRIU_IMAGES):
        print(f"pycriu images not found at {PYCRIU_IMAGES}", file=sys.stderr)
        return 2
    sys.path.insert(0, PYCRIU_IMAGES)
    from google.protobuf import descriptor_pb2

    opts_pb2 = importlib.import_module("opts_pb2")
    criu_ext = opts_pb2.criu

    type_names = {
        v: k[len("TYPE_"):].lower()
        for k, v in descriptor_pb2.FieldDescriptorProto.Type.items()
    }
    label_names = {
        v: k[len("LABEL_"):].lower()
        for k, v in descriptor_pb2.FieldDescriptorProto.Label.items()
    }

    messages = {}
    enums = {}

    def criu_opts(field):
        opts = field.GetOptions()
        if not opts.HasExtension(criu_ext):
            return {}
        ext = opts.Extensions[criu_ext]
        return {f.name: v for f, v in ext.ListFields()}

    def add_enum(enum, file_name):
        enums[enum.full_name] = {
            "file": file_name,
            "values": {v.name: v.number for v in enum.values},
        }

    # Explicit defaults, as text, keyed by (message full name, field name): the
    # descriptor proto keeps them as written, which is easier to compare than values.
    defaults = {}

    def collect_defaults(msg_protos, prefix):
        for mp in msg_protos:
            full = prefix + mp.name
            for fp in mp.field:
                if fp.HasField("default_value"):
                    defaults[(full, fp.name)] = fp.default_value
            collect_defaults(mp.nested_type, full + ".")

    def add_message(msg, file_name):
        fields = []
        for f in msg.fields:
            type_name = ""
            if f.message_type is not None:
                type_name = f.message_type.full_name
            elif f.enum_type is not None:
                type_name = f.enum_type.full_name
            entry = {
                "name": f.name,
                "number": f.number,
                "label": label_names[f.label],
                "type": type_names[f.type],
                "type_name": type_name,
                "packed": bool(f.GetOptions().packed),
                "criu": criu_opts(f),
            }
            if (msg.full_name, f.name) in defaults:
                entry["default"] = defaults[(msg.full_name, f.name)]
            fields.append(entry)
        messages[msg.full_name] = {"file": file_name, "fields": fields}
        for nested in msg.nested_types:
            add_message(nested, file_name)
        for enum in msg.enum_types:
            add_enum(enum, file_name)

    def add_module(name):
        fd = importlib.import_module(name).DESCRIPTOR
        file_proto = descriptor_pb2.FileDescriptorProto()
        fd.CopyToProto(file_proto)
        collect_defaults(file_proto.message_type, "")
        for msg in fd.message_types_by_name.values():
            add_message(msg, fd.name)
        for enum in fd.enum_types_by_name.values():
            add_enum(enum, fd.name)

    for path in sorted(glob.glob(os.path.join(PYCRIU_IMAGES, "*_pb2.py"))):
        add_module(os.path.basename(path)[:-3])

    # The RPC protocol lives one level up (pycriu/rpc_pb2.py).
    pycriu_dir = os.path.dirname(PYCRIU_IMAGES)
    if os.path.exists(os.path.join(pycriu_dir, "rpc_pb2.py")):
        sys.path.insert(0, pycriu_dir)
        add_module("rpc_pb2")

    json.dump({"messages": messages, "enums": enums}, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
