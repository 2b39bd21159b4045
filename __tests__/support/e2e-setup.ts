import { jest } from '@jest/globals'

// E2E tests deploy real containers through sshd; a single test may run several deploys.
jest.setTimeout(240_000)
