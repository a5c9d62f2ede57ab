/** Dumping open fds: kinds, shared descriptions (within and across tasks), pipe data, owners. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FdDumpError, dumpFds, newFdDumpContext } from '../../src/dump/files/fds.js';
import { FileTable } from '../../src/dump/files/table.js';
import { readBuildId } from '../../src/dump/build_id.js';
import { FdTypes } from '../../src/images/generated/types.js';
import { killAllPrograms, startProgram, workDir } from '../support/programs.js';

afterAll(() => killAllPrograms());

describe('fd dump', () => {
  it('records every fd of a task and its child once per open file description', () => {
    const data = join(workDir(), 'files-data');
    const target = startProgram('files_state', { args: [data] });
    const child = Number(target.waitOutput(/child (\d+)/)[1]);
    const table = new FileTable();
    const ctx = newFdDumpContext(table);
    // The test runner may leak an fd of its own into the target (vitest's worker pipe shows up as a
    // high fd, as in CRIU's conformance sets): look only at the fds the program opened.
    const parentFds = dumpFds(target.pid, ctx).filter((f) => f.fd < 100);
    const childFds = dumpFds(child, ctx).filter((f) => f.fd < 100);

    expect(parentFds.map((f) => f.fd)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const byFd = new Map(parentFds.map((f) => [f.fd, f]));
    expect(byFd.get(3)!.type).toBe(FdTypes.PIPE);
    expect(byFd.get(5)!.type).toBe(FdTypes.EVENTFD);
    expect(byFd.get(6)!.id).toBe(byFd.get(7)!.id); // dup(): one description
    expect(byFd.get(6)!.flags).toBe(1); // O_CLOEXEC is per fd
    expect(byFd.get(7)!.flags).toBe(0);
    // The child shares every description of its parent.
    expect(childFds.map((f) => f.id)).toEqual(parentFds.map((f) => f.id));
    // The launcher's `>out 2>&1` makes fds 1 and 2 one description: 0, 1=2, 3, 4, 5, 6=7, 8.
    expect(byFd.get(1)!.id).toBe(byFd.get(2)!.id);
    expect(new Set(parentFds.map((f) => f.id)).size).toBe(7);

    const file = table.get(byFd.get(6)!.id)!.reg!;
    expect(file.name).toBe(data);
    expect(file.pos).toBe(42n);
    expect(file.flags & 3).toBe(2); // O_RDWR, without O_CLOEXEC
    expect(file.size).toBe(100n);
    expect(file.fown).toEqual({ uid: 0, euid: 0, signum: 10, pid_type: 1 /* F_OWNER_PID */, pid: target.pid });
    expect(file.build_id).toBeUndefined();
    const binary = table.get(byFd.get(8)!.id)!.reg!;
    expect(binary.build_id).toEqual(readBuildId('/usr/bin/true'));

    const readEnd = table.get(byFd.get(3)!.id)!.pipe!;
    const writeEnd = table.get(byFd.get(4)!.id)!.pipe!;
    expect(readEnd.pipe_id).toBe(writeEnd.pipe_id);
    expect([readEnd.flags, writeEnd.flags]).toEqual([0, 1]);
    expect(ctx.pipeData).toHaveLength(1);
    expect(Buffer.from(ctx.pipeData[0]!.data).toString()).toBe('hello pipe');
    expect(ctx.pipeData[0]!.entry).toEqual({ pipe_id: readEnd.pipe_id, bytes: 10, size: 65536 });

    expect(table.get(byFd.get(5)!.id)!.efd!.counter).toBe(7n);
    // The task keeps its pipe data: the dump only looked.
    expect(readFileSync(`/proc/${target.pid}/fdinfo/3`, 'utf8')).toMatch(/pos:\s+0/);
  });

  it('refuses an fd kind it cannot dump, naming the task and fd', () => {
    const sockTarget = startProgram('sock_holder');
    let error: unknown;
    try {
      dumpFds(sockTarget.pid, newFdDumpContext(new FileTable()));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(FdDumpError);
    expect((error as FdDumpError).code).toBe('FD_UNSUPPORTED');
    expect((error as FdDumpError).message).toMatch(new RegExp(`^task ${sockTarget.pid}, fd 3: socket socket:\\[\\d+\\]`));
  });
});
