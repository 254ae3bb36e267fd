import { v7 as uuidv7 } from 'uuid';

/** Record ids are UUIDv7: unique without coordination and sortable by creation time. */
export function newRecordId(): string {
  return uuidv7();
}
