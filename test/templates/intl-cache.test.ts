import { expect } from 'chai';
import { IntlCache } from '../../src/templates/intl-cache';

describe('templates: IntlCache', () => {
  it('hands back the same Intl object for the same constructor, locale and options', () => {
    const cache = new IntlCache();
    const a = cache.get(Intl.NumberFormat, 'de', { style: 'unit', unit: 'byte' });
    expect(cache.get(Intl.NumberFormat, 'de', { style: 'unit', unit: 'byte' })).to.equal(a);
    expect(cache.get(Intl.NumberFormat, 'fr', { style: 'unit', unit: 'byte' })).to.not.equal(a);
    expect(cache.get(Intl.NumberFormat, 'de')).to.not.equal(a);
  });

  it('is owned by its instance: two caches share nothing', () => {
    const one = new IntlCache();
    const two = new IntlCache();
    expect(one.get(Intl.PluralRules, 'en')).to.not.equal(two.get(Intl.PluralRules, 'en'));
  });

  it('still throws for what Intl refuses and caches nothing for it', () => {
    const cache = new IntlCache();
    expect(() => cache.get(Intl.DateTimeFormat, 'en', { timeZone: 'Mars/Olympus' })).to.throw(RangeError);
    expect(() => cache.get(Intl.DateTimeFormat, 'en', { timeZone: 'Mars/Olympus' })).to.throw(RangeError);
  });
});
