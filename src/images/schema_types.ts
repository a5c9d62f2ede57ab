/** The shapes of the generated wire table (src/images/generated/schema.ts). */

export type ScalarType =
  | 'double' | 'float'
  | 'int32' | 'int64' | 'uint32' | 'uint64' | 'sint32' | 'sint64'
  | 'fixed32' | 'fixed64' | 'sfixed32' | 'sfixed64'
  | 'bool' | 'string' | 'bytes';

/** CRIU's field options (`[(criu).hex = true]` and friends): they steer crit's JSON. */
export interface CriuFieldOptions {
  hex?: boolean;
  ipadd?: boolean;
  flags?: string;
  dev?: boolean;
  odev?: boolean;
  dict?: string;
  conv?: string;
}

export interface FieldSpec {
  name: string;
  id: number;
  type: ScalarType | 'message' | 'enum';
  /** For 'message' and 'enum': the full name of the type. */
  typeName?: string;
  rule: 'required' | 'optional' | 'repeated';
  packed?: boolean;
  criu?: CriuFieldOptions;
  default?: unknown;
}

export interface MessageSpec {
  name: string;
  /** In field-number order, which is the order they are written in. */
  fields: FieldSpec[];
}

export interface EnumSpec {
  name: string;
  values: Record<string, number>;
}

export interface ImageSchema {
  messages: Record<string, MessageSpec>;
  enums: Record<string, EnumSpec>;
}
