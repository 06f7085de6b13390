/** The real SEV-SNP samples (../shared/testdata/attestation/sev-snp) and the times to verify them at (SOURCES.md). */
import { readSample, readSampleText } from '../../test/testdata.ts';
import { fromHex } from '../util/bytes.ts';

/** Sample paths start with this. */
export const S = 'sev-snp/';
/** Unix seconds of an ISO time. */
export const unix = (iso: string) => Date.parse(iso) / 1000;
/** Inside every Milan/Turin sample window (VCEKs from 2022-09, 2023-04 and 2024-11; ASK/ARK to 2045+). */
export const NOW_2025 = unix('2025-01-01T00:00:00Z');
/** The teep Genoa capture time (the VCEK is valid from 2026-06-28T02:12:47Z). */
export const NOW_GENOA = unix('2026-06-29T02:12:49Z');

export const goReport = () => readSample(S + 'go-sev-guest/attestation.bin');
export const goVcek = () => readSample(S + 'go-sev-guest/vcek.testcer');
export const virteeReport = () => fromHex(readSampleText(S + 'virtee-sev/report_milan.hex').trim());
export const virteeVcek = () => readSample(S + 'virtee-sev/vcek_milan.der');
export const genoaReport = () => readSample(S + 'teep-agpl/report_genoa_v3.bin');
export const genoaVcek = () => readSample(S + 'teep-agpl/vcek_genoa.der');
/** The go-sev-guest ASK/ARK pair for a product name (milan, genoa, turin). */
export const chainPem = (name: string) => readSampleText(S + `go-sev-guest/ask_ark_${name}.pem`);
