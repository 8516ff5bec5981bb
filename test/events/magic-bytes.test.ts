import { expect } from 'chai';
import { classifyContent } from '../../src/events';

const b = (s: string, pad = 16) => Buffer.concat([Buffer.from(s, 'latin1'), Buffer.alloc(pad)]);

describe('classifyContent: declared type against magic bytes', () => {
  const cases: [string, Buffer, string, string, boolean][] = [
    ['WAV as audio/wav', b('RIFF\x24\0\0\0WAVEfmt '), 'audio/wav', 'audio/wav', false],
    ['WAV under an alias', b('RIFF\x24\0\0\0WAVEfmt '), 'audio/x-wav', 'audio/x-wav', false],
    ['MP3 with ID3', b('ID3\x04'), 'audio/mpeg', 'audio/mpeg', false],
    ['MP3 frame sync', b('\xff\xfb\x90\x64'), 'audio/mp3', 'audio/mp3', false],
    ['PDF', b('%PDF-1.7'), 'application/pdf', 'application/pdf', false],
    ['TIFF little-endian', b('II*\0'), 'image/tiff', 'image/tiff', false],
    ['TIFF big-endian', b('MM\0*'), 'image/tiff', 'image/tiff', false],
    ['MP3 labelled WAV', b('ID3\x03'), 'audio/wav', 'audio/mpeg', true],
    ['TIFF labelled PDF', b('II*\0'), 'application/pdf', 'image/tiff', true],
    ['RIFF that is not WAVE', b('RIFF\0\0\0\0AVI '), 'audio/wav', 'application/octet-stream', true],
    ['HTML labelled PDF', b('<html>'), 'application/pdf', 'application/octet-stream', true],
    ['empty file', Buffer.alloc(0), 'audio/wav', 'application/octet-stream', true],
    ['unknown stays octet-stream', b('\x00\x01'), 'application/octet-stream', 'application/octet-stream', false],
  ];
  for (const [name, head, declared, type, corrected] of cases) {
    it(name, () => expect(classifyContent(declared, head)).to.deep.equal({ contentType: type, corrected }));
  }
});
