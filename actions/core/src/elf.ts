import { closeSync, openSync, readSync } from 'node:fs';

/**
 * What the dynamic loader needs of an ELF file, read from the file itself (the root's programs are
 * never run, and neither is the host's ldd): its class and machine, which must match those of every
 * library it loads, its interpreter (PT_INTERP), and from its dynamic section the DT_NEEDED
 * libraries and the DT_RPATH / DT_RUNPATH search paths. The layout is the System V ABI's (ELF
 * header, program headers; dynamic entries whose strings live in DT_STRTAB, found through the
 * PT_LOAD segment that maps its address).
 */
export interface ElfDependencies {
  /** 32 or 64. */
  bits: 32 | 64;
  /** e_machine: 3 for i386, 62 for x86-64. */
  machine: number;
  /** 2 (executable) or 3 (shared object, also position-independent executables). */
  type: number;
  interpreter?: string;
  needed: string[];
  rpath: string[];
  runpath: string[];
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
/** More than any real program has: a corrupt count is not followed into a huge read. */
const MAX_PROGRAM_HEADERS = 4096;

/** Reads `length` bytes at `offset`; fewer at the end of the file. */
function readAt(fd: number, offset: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const read = readSync(fd, buffer, 0, length, offset);
  return buffer.subarray(0, read);
}

class ElfReader {
  constructor(
    private readonly bytes: Buffer,
    private readonly bits: 32 | 64,
    private readonly little: boolean,
  ) {}

  half(at: number): number {
    return this.little ? this.bytes.readUInt16LE(at) : this.bytes.readUInt16BE(at);
  }

  word(at: number): number {
    return this.little ? this.bytes.readUInt32LE(at) : this.bytes.readUInt32BE(at);
  }

  /** An address, offset or size: 4 bytes in ELF32, 8 in ELF64. */
  address(at: number): number {
    if (this.bits === 32) return this.word(at);
    const value = this.little ? this.bytes.readBigUInt64LE(at) : this.bytes.readBigUInt64BE(at);
    return Number(value);
  }
}

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

/**
 * The dependencies of the ELF file at `file`, or undefined when it is not an ELF executable or
 * shared object (any other file, a relocatable object, a core dump, a truncated file).
 */
export function readElfDependencies(file: string): ElfDependencies | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    return readOpenElf(fd);
  } catch (error) {
    // A truncated or corrupt file reads past its end, a directory cannot be read: no loadable object.
    if (error instanceof RangeError || (error as NodeJS.ErrnoException).code !== undefined) {
      return undefined;
    }
    throw error;
  } finally {
    closeSync(fd);
  }
}

function readOpenElf(fd: number): ElfDependencies | undefined {
  const ident = readAt(fd, 0, 64);
  if (ident.length < 52 || ident.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const bits = ident[4] === 1 ? 32 : ident[4] === 2 ? 64 : undefined;
  const little = ident[5] === 1 ? true : ident[5] === 2 ? false : undefined;
  if (bits === undefined || little === undefined) return undefined;
  const header = new ElfReader(ident, bits, little);
  const type = header.half(16);
  if (type !== 2 && type !== 3) return undefined;
  const machine = header.half(18);
  const phoff = header.address(bits === 32 ? 28 : 32);
  const phentsize = header.half(bits === 32 ? 42 : 54);
  const phnum = Math.min(header.half(bits === 32 ? 44 : 56), MAX_PROGRAM_HEADERS);
  const segments = readSegments(fd, bits, little, phoff, phentsize, phnum);

  const result: ElfDependencies = { bits, machine, type, needed: [], rpath: [], runpath: [] };
  const interp = segments.find((segment) => segment.type === PT_INTERP);
  const interpreter = interp ? cString(readAt(fd, interp.offset, interp.filesz), 0) : '';
  if (interpreter !== '') result.interpreter = interpreter;
  const dynamic = segments.find((segment) => segment.type === PT_DYNAMIC);
  if (dynamic) readDynamic(fd, bits, little, dynamic, segments, result);
  return result;
}

function readSegments(
  fd: number,
  bits: 32 | 64,
  little: boolean,
  phoff: number,
  phentsize: number,
  phnum: number,
): Segment[] {
  const table = new ElfReader(readAt(fd, phoff, phentsize * phnum), bits, little);
  const segments: Segment[] = [];
  for (let index = 0; index < phnum; index++) {
    const at = index * phentsize;
    segments.push(
      bits === 32
        ? {
            type: table.word(at),
            offset: table.address(at + 4),
            vaddr: table.address(at + 8),
            filesz: table.address(at + 16),
          }
        : {
            type: table.word(at),
            offset: table.address(at + 8),
            vaddr: table.address(at + 16),
            filesz: table.address(at + 32),
          },
    );
  }
  return segments;
}

function readDynamic(
  fd: number,
  bits: 32 | 64,
  little: boolean,
  dynamic: Segment,
  segments: Segment[],
  result: ElfDependencies,
): void {
  const entrySize = bits === 32 ? 8 : 16;
  const entries = new ElfReader(readAt(fd, dynamic.offset, dynamic.filesz), bits, little);
  const tags: Array<[number, number]> = [];
  let strtab: number | undefined;
  let strsz = 0;
  for (let at = 0; at + entrySize <= dynamic.filesz; at += entrySize) {
    const tag = entries.address(at);
    const value = entries.address(at + entrySize / 2);
    if (tag === DT_NULL) break;
    if (tag === DT_STRTAB) strtab = value;
    else if (tag === DT_STRSZ) strsz = value;
    else tags.push([tag, value]);
  }
  if (strtab === undefined) return;
  // DT_STRTAB is an address: the PT_LOAD segment that maps it gives its place in the file.
  const address = strtab;
  const load = segments.find(
    (segment) =>
      segment.type === PT_LOAD &&
      address >= segment.vaddr &&
      address < segment.vaddr + segment.filesz,
  );
  if (!load) return;
  const strings = readAt(fd, load.offset + (address - load.vaddr), strsz);
  for (const [tag, value] of tags) {
    if (tag === DT_NEEDED) result.needed.push(cString(strings, value));
    else if (tag === DT_RPATH) result.rpath.push(...splitPath(cString(strings, value)));
    else if (tag === DT_RUNPATH) result.runpath.push(...splitPath(cString(strings, value)));
  }
}

function cString(bytes: Buffer, start: number): string {
  const end = bytes.indexOf(0, start);
  return bytes.subarray(start, end < 0 ? bytes.length : end).toString('utf8');
}

function splitPath(text: string): string[] {
  return text.split(':').filter((entry) => entry !== '');
}
