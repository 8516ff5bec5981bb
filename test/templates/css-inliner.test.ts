import { expect } from 'chai';
import juice from 'juice';
import { CssInliner } from '../../src/templates/css-inliner';

const OPTIONS = { preserveImportant: true, applyWidthAttributes: false, applyHeightAttributes: false };
const doc = (body: string, css = 'p { color: red } .x td { padding: 4px } p:empty { display: none } a[href^="https"] { color: blue }') =>
  `<!doctype html><html><head><style>${css}</style></head><body><!--[if mso]><table><tr><td><![endif]-->${body}</body></html>`;

describe('templates: CssInliner (juice once per document shape)', () => {
  it('gives exactly what juice gives, for mails of one shape with different text', () => {
    const inliner = new CssInliner(OPTIONS);
    const texts = ['Alice', 'Zoë &amp; &lt;Co&gt; &quot;x&quot;', '😀 line\nbreak', '__pbx', 'p { color: green }'];
    for (const t of texts) {
      const html = doc(`<p title="a>b">${t}</p><table class="x"><tr><td>${t}</td></tr></table><a href="https://e.invalid/${t.length}">${t}</a>`);
      expect(inliner.inline(html)).to.equal(juice(html, OPTIONS));
    }
  });

  it('stays exact where the text decides the styles (:empty), and with slot markers in the mail', () => {
    const inliner = new CssInliner(OPTIONS);
    for (const html of [doc('<p></p><p>x</p>'), doc('<p> </p><p>y</p>'), doc('<p>__pbxcss0__</p>'), doc('<p>__pbxcss0__</p><p>z</p>')]) {
      expect(inliner.inline(html)).to.equal(juice(html, OPTIONS));
      expect(inliner.inline(html)).to.equal(juice(html, OPTIONS));
    }
  });

  it('remembers one inlined form per shape, not per mail', () => {
    const inliner = new CssInliner(OPTIONS);
    for (const name of ['Alice', 'Bob', 'Carol &amp; Dave']) inliner.inline(doc(`<p>Hello ${name}</p>`));
    expect(inliner.shapes).to.equal(1);
    const other = doc('<p>Hello <b>Erin</b></p>');
    expect(inliner.inline(other)).to.equal(juice(other, OPTIONS));
    expect(inliner.shapes).to.equal(2);
  });
});
