package com.example.chatty;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class AppTest {

    /** 200,000 lines on stdout: surefire forwards them to Maven's output, line by line. */
    @Test
    void printsTwoHundredThousandLines() {
        for (int i = 0; i < 200_000; i++) {
            System.out.println(App.line(i));
        }
        assertTrue(App.line(1).startsWith("chatty line 1 "));
    }
}
