/** How the caller's IP is found: socket address, X-Real-IP, or X-Forwarded-For with trusted hops. */
import { describe, expect, it } from 'vitest';
import { addressKey, resolveClientIp } from '../src/http/client-ip.js';

const headers = (values: Record<string, string>) => (name: string) => values[name];

describe('resolveClientIp', () => {
  it('uses the socket address by default, whatever the headers say', () => {
    const spoofed = headers({ 'x-real-ip': '6.6.6.6', 'x-forwarded-for': '6.6.6.6' });
    expect(resolveClientIp('10.0.0.5', spoofed, undefined)).toBe('10.0.0.5');
    expect(resolveClientIp('10.0.0.5', spoofed, { x_real_ip: false })).toBe('10.0.0.5');
  });

  it('unwraps IPv4-mapped IPv6 addresses', () => {
    expect(resolveClientIp('::ffff:127.0.0.1', headers({}), undefined)).toBe('127.0.0.1');
    expect(resolveClientIp('::1', headers({}), undefined)).toBe('::1');
  });

  it('trusts X-Real-IP when configured, and falls back to the socket without it', () => {
    expect(resolveClientIp('10.0.0.5', headers({ 'x-real-ip': ' 203.0.113.7 ' }), { x_real_ip: true })).toBe('203.0.113.7');
    expect(resolveClientIp('10.0.0.5', headers({}), { x_real_ip: true })).toBe('10.0.0.5');
  });

  it('takes the address N hops from the right of X-Forwarded-For', () => {
    const chain = headers({ 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 198.51.100.2' });
    expect(resolveClientIp('10.0.0.5', chain, { x_real_ip: false, x_forwarded_for_trusted_hops: 1 })).toBe('198.51.100.2');
    expect(resolveClientIp('10.0.0.5', chain, { x_real_ip: false, x_forwarded_for_trusted_hops: 2 })).toBe('203.0.113.7');
  });

  it('falls back to the socket when the chain is shorter than the trusted hops', () => {
    const short = headers({ 'x-forwarded-for': '203.0.113.7' });
    expect(resolveClientIp('10.0.0.5', short, { x_real_ip: false, x_forwarded_for_trusted_hops: 2 })).toBe('10.0.0.5');
    expect(resolveClientIp('10.0.0.5', headers({}), { x_real_ip: false, x_forwarded_for_trusted_hops: 1 })).toBe('10.0.0.5');
  });

  it('prefers X-Real-IP over X-Forwarded-For when both are trusted', () => {
    const both = headers({ 'x-real-ip': '203.0.113.9', 'x-forwarded-for': '198.51.100.2' });
    expect(resolveClientIp('10.0.0.5', both, { x_real_ip: true, x_forwarded_for_trusted_hops: 1 })).toBe('203.0.113.9');
  });

  it('ignores header values that are not addresses, and unwraps ports and brackets', () => {
    const trusted = { x_real_ip: true, x_forwarded_for_trusted_hops: 1 };
    for (const junk of ['x'.repeat(8192), 'not-an-ip', '999.1.1.1', '', '1.2.3.4 5.6.7.8']) {
      expect(resolveClientIp('10.0.0.5', headers({ 'x-real-ip': junk, 'x-forwarded-for': junk }), trusted)).toBe('10.0.0.5');
    }
    expect(resolveClientIp('10.0.0.5', headers({ 'x-real-ip': '203.0.113.7:5123' }), trusted)).toBe('203.0.113.7');
    expect(resolveClientIp('10.0.0.5', headers({ 'x-forwarded-for': '1.1.1.1, [2001:db8::1]:443' }), trusted)).toBe('2001:db8::1');
    expect(resolveClientIp('10.0.0.5', headers({ 'x-forwarded-for': '::ffff:198.51.100.2' }), trusted)).toBe('198.51.100.2');
  });

  it('keys limits by IPv4 address and by IPv6 /64 network', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002::')).toBe('2001:db8:1:2::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('2001:DB8:1:2::1')).toBe('2001:db8:1:2::/64');
    // IPv4 written as IPv6, however spelt, is that IPv4 address: no two clients share a key by spelling.
    for (const spelling of ['0:0:0:0:0:ffff:1.2.3.4', '::FFFF:1.2.3.4', '::ffff:102:304', '::1.2.3.4', '64:ff9b::1.2.3.4']) {
      expect(addressKey(spelling), spelling).toBe('1.2.3.4');
    }
    expect(addressKey('::ffff:5.6.7.8')).toBe('5.6.7.8');
  });
});
